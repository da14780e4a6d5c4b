// Package isolate cuts a flagged container off the network in the kernel:
// cgroup/connect4 and connect6 programs on its cgroup refuse every outbound
// connect except to an allow list (the mesh's control plane, DNS). One allow
// list serves every isolated cgroup.
package isolate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Isolator holds the programs and the cgroups they are attached to.
type Isolator struct {
	objs  bpfObjects
	mu    sync.Mutex
	links map[string][]link.Link // cgroup dir -> connect4, connect6
}

// Open loads the programs (root).
func Open() (*Isolator, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("isolate: memlock: %w", err)
	}
	i := &Isolator{links: map[string][]link.Link{}}
	if err := loadBpfObjects(&i.objs, nil); err != nil {
		return nil, fmt.Errorf("isolate: loading eBPF objects: %w", err)
	}
	return i, nil
}

// Allow lets isolated containers connect to addr:port (port 0: any port).
func (i *Isolator) Allow(addr netip.Addr, port uint16) error {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		return i.objs.Allow4.Put(bpfV4key{Addr: binary.LittleEndian.Uint32(b[:]), Port: port}, uint8(1))
	}
	b := addr.As16()
	k := bpfV6key{Port: port}
	for j := range k.Addr {
		k.Addr[j] = binary.LittleEndian.Uint32(b[4*j:]) // the kernel compares the bytes as they are
	}
	return i.objs.Allow6.Put(k, uint8(1))
}

// Isolate attaches the programs to a cgroup v2 directory.
func (i *Isolator) Isolate(cgroupDir string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.links[cgroupDir]; ok {
		return nil
	}
	var ls []link.Link
	for _, p := range []struct {
		prog *ebpf.Program
		at   ebpf.AttachType
	}{{i.objs.Connect4, ebpf.AttachCGroupInet4Connect}, {i.objs.Connect6, ebpf.AttachCGroupInet6Connect}} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupDir, Attach: p.at, Program: p.prog})
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("isolate %s: %w", cgroupDir, err)
		}
		ls = append(ls, l)
	}
	i.links[cgroupDir] = ls
	return nil
}

// Release lets a cgroup connect again.
func (i *Isolator) Release(cgroupDir string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	ls, ok := i.links[cgroupDir]
	if !ok {
		return os.ErrNotExist
	}
	delete(i.links, cgroupDir)
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// Denied counts refused connects, over CPUs.
func (i *Isolator) Denied() (uint64, error) {
	var per []uint64
	if err := i.objs.Denied.Lookup(uint32(0), &per); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// Close releases every cgroup and the programs.
func (i *Isolator) Close() error {
	i.mu.Lock()
	for dir, ls := range i.links {
		for _, l := range ls {
			l.Close()
		}
		delete(i.links, dir)
	}
	i.mu.Unlock()
	return i.objs.Close()
}
