// Package sharedstate shares the authorizer's quarantine set and epoch among
// its replicas through etcd. etcd is the replicas' log, never their hot
// path: each replica keeps the set in memory (extauthz/quarantine), lists
// the prefix once, then applies a watch's puts and deletes from the revision
// it listed. A quarantine is a key with a lease for its TTL; every change
// also puts the epoch key in the same transaction, and the epoch the
// replicas report is that key's revision, so replicas with the same state
// report the same epoch and the filters' caches stay warm across them.
//
// While etcd is unreachable a replica keeps its last state and serves: a
// quarantine is applied here at once and written when etcd returns (the
// caller hears it is not shared yet); a release is refused, since lifting
// a quarantine on one replica only would let the workload through there.
package sharedstate
