#ifndef DOCKET_CLMDB_SHIM_H
#define DOCKET_CLMDB_SHIM_H
#include <lmdb.h>
#endif
