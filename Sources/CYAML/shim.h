#ifndef SECRETFILL_CYAML_SHIM_H
#define SECRETFILL_CYAML_SHIM_H
#include <yaml.h>
#endif
