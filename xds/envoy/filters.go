package envoy

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// wasmRuntime is Envoy's V8: it runs the wasip1 module standard Go builds.
const (
	wasmRuntime      = "envoy.wasm.runtime.v8"
	wasmFetchTimeout = 30 * time.Second
	wasmPluginPrefix = "meshward-"
)

func httpFilter(name string, cfg validatable) (*hcmv3.HttpFilter, error) {
	a, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// wasmFilter runs the meshward filter with config, failing closed: a filter
// that cannot load must not let requests through unchecked.
func (s *Sidecar) wasmFilter(direction, config string) (*hcmv3.HttpFilter, error) {
	f := &s.Filter
	code := &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{Local: file(f.Code.File)}}
	if r := f.Code.Remote; r != nil {
		code.Specifier = &corev3.AsyncDataSource_Remote{Remote: &corev3.RemoteDataSource{
			HttpUri: &corev3.HttpUri{
				Uri:              r.URI,
				HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: WasmCodeCluster},
				Timeout:          duration(wasmFetchTimeout),
			},
			Sha256: r.SHA256,
		}}
	}
	cfg, err := marshalAny(wrapperspb.String(config))
	if err != nil {
		return nil, err
	}
	return httpFilter(WasmFilterName, &wasmfilterv3.Wasm{Config: &wasmv3.PluginConfig{
		Name:          wasmPluginPrefix + direction,
		RootId:        f.RootID,
		Vm:            &wasmv3.PluginConfig_VmConfig{VmConfig: &wasmv3.VmConfig{VmId: f.VMID, Runtime: wasmRuntime, Code: code}},
		Configuration: cfg,
		FailurePolicy: wasmv3.FailurePolicy_FAIL_CLOSED,
	}})
}

// extAuthz asks the authorizer over gRPC; an authorizer that cannot answer
// denies (failure_mode_allow false), and the check carries the caller's
// certificate so the authorizer judges the identity the TLS handshake proved.
func (s *Sidecar) extAuthz() (*hcmv3.HttpFilter, error) {
	timeout := s.Authz.Timeout
	if timeout == 0 {
		timeout = defaultAuthzTimeout
	}
	return httpFilter(ExtAuthzName, &extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzGRPCCluster}},
			Timeout:         duration(timeout),
		}},
		TransportApiVersion:    corev3.ApiVersion_V3,
		FailureModeAllow:       false,
		IncludePeerCertificate: true,
	})
}

func router() (*hcmv3.HttpFilter, error) { return httpFilter(RouterName, &routerv3.Router{}) }

// chain makes http_filters in order, stopping at the first error.
func chain(makers ...func() (*hcmv3.HttpFilter, error)) ([]*hcmv3.HttpFilter, error) {
	out := make([]*hcmv3.HttpFilter, 0, len(makers))
	for _, m := range makers {
		f, err := m()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
