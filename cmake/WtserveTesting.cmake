# wtserve_add_gtest(NAME SOURCES a.cc b.cc LIBS lib1 lib2 [TORCH_PCH])
# One executable per area; every TEST becomes its own ctest entry.
function(wtserve_add_gtest name)
  cmake_parse_arguments(ARG "TORCH_PCH" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main wtserve_warnings)
  if(NOT ARG_LABELS)
    # An empty LABELS value would be dropped and shift the property list.
    set(ARG_LABELS ${name})
  endif()
  if(ARG_TORCH_PCH)
    wtserve_torch_pch(${name})
  endif()
  # gtest_discover_tests flattens an ENVIRONMENT list to its first entry, so the variables
  # travel through the launcher that discovery and every test run use.
  set_target_properties(${name} PROPERTIES CROSSCOMPILING_EMULATOR
    "${CMAKE_COMMAND};-E;env;WTSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};WTSERVE_BINARY_DIR=${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
