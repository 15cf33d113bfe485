// Header-only: see include/CVectorMath.h. SwiftPM needs one source file to build a C target.
#include "CVectorMath.h"
