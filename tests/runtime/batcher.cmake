# The dynamic batcher tests: fake clock + fake model, deterministic, a few seconds in all.
wtserve_add_gtest(dynamic_batcher_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dynamic_batcher_test.cc
  LIBS wtserve_batcher
  LABELS runtime)

# The batching rules on their own: a queue described by a table, no threads or clock.
wtserve_add_gtest(batching_policy_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/batching_policy_test.cc
  LIBS wtserve_batcher
  LABELS runtime)
