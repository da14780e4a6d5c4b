module github.com/meshward/meshward/wasm-filter

go 1.26.0

require (
	github.com/meshward/meshward v0.0.0
	github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/tetratelabs/wazero v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// The filter shares the check wire format (api/check) with the authorizer.
replace github.com/meshward/meshward => ../
