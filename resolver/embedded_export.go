//go:build cgo

package resolver

/*
#include <unbound.h>
*/
import "C"

import "unsafe"

// danedUnboundDone is libunbound's callback (ub_callback_type) for every
// query started by Embedded.Lookup; mydata carries the registry id.
//
//export danedUnboundDone
func danedUnboundDone(mydata unsafe.Pointer, err C.int, result *C.struct_ub_result) {
	deliver(uintptr(mydata), err, result)
}
