// Command wasm-filter is the meshward proxy-wasm filter, built for GOOS=wasip1
// as a reactor (-buildmode=c-shared); see the Makefile's wasm target.
package main

import (
	"github.com/meshward/meshward/wasm-filter/filter"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// A c-shared wasip1 module runs package initialisers from _initialize and
// never calls main, so the VM context is registered here.
func init() { proxywasm.SetVMContext(&filter.VM{}) }

func main() {}
