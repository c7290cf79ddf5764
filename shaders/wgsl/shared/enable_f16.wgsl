// The f16 extension (first part of the kernels that store half-precision values; WGSL directives
// must precede every declaration). Needs the adapter feature SHADER_F16.
enable f16;
