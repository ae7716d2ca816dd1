# LibTorch as one interface target. TORCH_CXX_FLAGS carries the C++ ABI define that every
# translation unit linked with LibTorch must share.
add_library(wtserve_torch INTERFACE)
target_link_libraries(wtserve_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(wtserve_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_wtserve_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(wtserve_torch INTERFACE ${_wtserve_torch_flags})

# Each TU that includes <torch/torch.h> costs ~16-19 s and ~1 GB; a per-target precompiled
# header brings the rest of a target's TUs down to a few seconds each.
function(wtserve_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h>)
endfunction()
