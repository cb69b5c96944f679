/* How much memory the system can still give: what sizes the defaults (a context that fits). */
#include "owl/common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t owl_mem_available(void) {
    /* MemAvailable counts the page cache the kernel would give back, as a new allocation sees
     * it; free pages alone undercount a machine that has read files. */
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[128];
        unsigned long long kib = 0;
        bool found = false;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
                found = true;
                break;
            }
        }
        fclose(f);
        if (found) return (uint64_t)kib * 1024;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}
