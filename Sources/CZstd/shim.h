#ifndef DOCKET_CZSTD_SHIM_H
#define DOCKET_CZSTD_SHIM_H
#include <zstd.h>
#include <zdict.h>
#endif
