/*
 * TEST-ONLY stand-in for Windows' bcryptprimitives.dll, which Debian's wine 8 lacks.
 *
 * Rust's standard library on Windows takes its random bytes (HashMap keys) from
 * ProcessPrng in bcryptprimitives.dll; without the DLL, every Rust program dies at start under
 * this wine. This stand-in exports ProcessPrng and fills the buffer from wine's own RtlGenRandom
 * (advapi32's SystemFunction036). It is built by scripts/cross next to chiaro.exe under
 * $CARGO_TARGET_DIR/cross-cli only, so that the tests can run the Windows binary here; it is never
 * shipped, and a real Windows has its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
