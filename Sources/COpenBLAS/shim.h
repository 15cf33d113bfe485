#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>

// OpenBLAS's dynamic-architecture entry points (exported by every DYNAMIC_ARCH build, not declared
// in cblas.h). They let the library re-select the kernel set after start-up; see BLASRuntime.swift.
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
// Re-reads the OPENBLAS_* environment variables, and stops the thread pool (it restarts on the
// next threaded call, with the settings just read); see BLASRuntime.swift.
void openblas_read_env(void);
int blas_thread_shutdown_(void);
#endif
