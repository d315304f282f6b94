// Clang's -Wthread-safety attributes, named as abseil names them. Under other compilers they
// expand to nothing; under clang the analysis checks that guarded state is touched only with its
// lock held.
#pragma once

#if defined(__clang__)
#define LOOM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LOOM_THREAD_ANNOTATION(x)
#endif

#define LOOM_GUARDED_BY(x) LOOM_THREAD_ANNOTATION(guarded_by(x))
#define LOOM_ACQUIRED_AFTER(...) LOOM_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define LOOM_EXCLUSIVE_LOCKS_REQUIRED(...) LOOM_THREAD_ANNOTATION(exclusive_locks_required(__VA_ARGS__))
#define LOOM_LOCKS_EXCLUDED(...) LOOM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
