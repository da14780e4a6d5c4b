// Package eaas is the wire format of meshward's Encryption as a Service,
// shared by the Wasm filter (GOOS=wasip1) and the authorizer's EaaS roles:
// the bit-packed messages of the seed's Fig. 2 with per-subscriber widths,
// frame batches (the bodies exchanged with the coordinator), the envelope
// that travels between sidecars in place of a plaintext body, the mark
// header, and the enrolment a filter fetches.
//
// Every decoder treats its input as hostile: it bounds what it reads and
// allocates, never panics, and says where the input is wrong. The package
// has no dependency beyond the standard library, so that the filter can
// carry it.
package eaas
