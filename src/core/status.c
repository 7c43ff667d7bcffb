/* status.c — status names and descriptions, generated from STEN_STATUS_LIST
 * so the enum and its strings can never drift apart. */
#include "sten.h"

const char *sten_status_str(sten_status st)
{
    switch (st) {
#define STEN__CASE(name, code, text) \
    case name:                       \
        return text;
        STEN_STATUS_LIST(STEN__CASE)
#undef STEN__CASE
    }
    return "unknown status";
}

const char *sten_status_name(sten_status st)
{
    switch (st) {
#define STEN__CASE(name, code, text) \
    case name:                       \
        return #name;
        STEN_STATUS_LIST(STEN__CASE)
#undef STEN__CASE
    }
    return "STEN_E_UNKNOWN";
}

const char *sten_version(void)
{
    return STEN_VERSION_STRING;
}
