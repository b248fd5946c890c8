# SPDX-License-Identifier: Apache-2.0
# Target helpers shared by every folder: flags, libraries, tests and benchmarks.

function(sluice_setup_flags)
  add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(SLUICE_WERROR)
    add_compile_options(-Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options(-Wthread-safety)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports false -Wrestrict errors inside std::string at -O3 (GCC bug 105651).
    add_compile_options(-Wno-restrict)
  endif()
  if(SLUICE_SANITIZE)
    add_compile_options(-fsanitize=${SLUICE_SANITIZE} -fno-omit-frame-pointer
                        -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${SLUICE_SANITIZE})
  endif()
endfunction()

# sluice_add_library(NAME SOURCES... DEPS ...): one static library per layer.
# A layer with no sources yet is an INTERFACE library that only passes its dependencies on.
function(sluice_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT ARG_SOURCES)
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARG_PUBLIC_DEPS})
    return()
  endif()
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# sluice_add_test(path/to/foo_test.cc DEPS ... [LABELS ...]): a GoogleTest binary registered
# with CTest. Tests labelled "concurrency" also run under TSan in tools/test.
function(sluice_add_test file)
  cmake_parse_arguments(ARG "" "TIMEOUT" "DEPS;LABELS" ${ARGN})
  get_filename_component(name ${file} NAME_WE)
  add_executable(${name} ${file})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} sluice_test_support GTest::gtest
                                        GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# sluice_add_bench(path/to/foo_bench.cc DEPS ...): a Google Benchmark binary.
function(sluice_add_bench file)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  get_filename_component(name ${file} NAME_WE)
  add_executable(${name} ${file})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
endfunction()
