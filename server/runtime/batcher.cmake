# The dynamic batcher library (owned by the batcher work): request queue, batch formation and
# worker threads of one model, independent of gRPC and of the model code (the model is injected).
add_library(wtserve_batcher
  ${CMAKE_CURRENT_LIST_DIR}/dynamic_batcher.cc
  ${CMAKE_CURRENT_LIST_DIR}/batching_policy.cc
  ${CMAKE_CURRENT_LIST_DIR}/batcher_clock.cc)
target_include_directories(wtserve_batcher PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(wtserve_batcher
  PUBLIC wtserve_torch absl::status absl::statusor absl::synchronization absl::time
         absl::any_invocable absl::function_ref
  PRIVATE absl::strings wtserve_warnings)
