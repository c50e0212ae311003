#pragma once
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver, linked in by -sanitize=fuzzer. SwiftPM gives every executable its own
/// `main` (renamed from the module's entry point), so each target's main.swift calls this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
