# Small helpers so each folder's CMakeLists.txt only names files and dependencies.
# Targets are named loom_<name> with a namespaced alias loom::<name>; the repository root is the
# include root, so headers are included as "scheduler/core/cluster.h".
include_guard(GLOBAL)

function(loom_cc_library)
  cmake_parse_arguments(A "INTERFACE" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target loom_${A_NAME})
  if(A_INTERFACE OR NOT A_SRCS)
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${A_DEPS})
  else()
    add_library(${target} STATIC ${A_SRCS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  add_library(loom::${A_NAME} ALIAS ${target})
endfunction()

function(loom_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# One ctest entry per GoogleTest case. LABELS lets CI or a developer pick a layer (ctest -L unit).
function(loom_cc_test)
  if(NOT LOOM_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  gtest_discover_tests(${A_NAME}
    PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
