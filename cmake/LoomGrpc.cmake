# loom::grpc: gRPC++ and Protobuf, linked either way the binary asks.
# Debian ships gRPC as 58 shared libraries (most of them Abseil's); loading and relocating them is
# most of a short `loom` call (docs/BENCHMARKS.md, CLI start-up). A binary whose target property
# LOOM_STATIC_GRPC is ON links the static archives Debian ships beside them instead; everything else
# keeps the shared ones (smaller, faster links). The choice is made per linking binary through
# $<TARGET_PROPERTY:LOOM_STATIC_GRPC>, which a usage requirement evaluates on the binary itself.
include_guard(GLOBAL)

add_library(loom_grpc INTERFACE)
add_library(loom::grpc ALIAS loom_grpc)

set(LOOM_GRPC_STATIC_LINK "")
find_library(LOOM_GRPCPP_ARCHIVE NAMES libgrpc++.a)
find_library(LOOM_PROTOBUF_ARCHIVE NAMES libprotobuf.a)
if(LOOM_GRPCPP_ARCHIVE AND LOOM_PROTOBUF_ARCHIVE AND PKG_CONFIG_EXECUTABLE)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --static --libs grpc++ protobuf
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(rc EQUAL 0)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    # libc's own parts stay shared: a static piece of glibc beside the shared one breaks.
    list(FILTER flags EXCLUDE REGEX "^(-pthread|-ldl|-lrt|-lm|-latomic|-Wl,--push-state.*|-Wl,--pop-state)$")
    set(LOOM_GRPC_STATIC_LINK -Wl,--start-group -Wl,-Bstatic ${flags} -Wl,--end-group -Wl,-Bdynamic
        Threads::Threads ${CMAKE_DL_LIBS} rt atomic)
  endif()
endif()

set(static_on "$<BOOL:$<TARGET_PROPERTY:LOOM_STATIC_GRPC>>")
if(LOOM_GRPC_STATIC_LINK)
  target_link_libraries(loom_grpc INTERFACE
    "$<${static_on}:${LOOM_GRPC_STATIC_LINK}>"
    "$<$<NOT:${static_on}>:gRPC::grpc++;protobuf::libprotobuf>")
else()
  target_link_libraries(loom_grpc INTERFACE gRPC::grpc++ protobuf::libprotobuf)
endif()

# Links `target` against the static gRPC archives where Debian has them, as a fixed-address
# executable: a static gRPC in a PIE carries 35,000 relative relocations to apply at every start,
# without PIE 1,900.
function(loom_static_grpc target)
  set_target_properties(${target} PROPERTIES LOOM_STATIC_GRPC ON)
  if(LOOM_GRPC_STATIC_LINK)
    target_link_options(${target} PRIVATE -no-pie)
  endif()
endfunction()
