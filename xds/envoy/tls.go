package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// uriSAN matches a certificate's URI SAN exactly, or by prefix.
func uriSAN(value string, prefix bool) *tlsv3.SubjectAltNameMatcher {
	m := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}}
	if prefix {
		m.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: value}
	}
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: m}
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

func (t *TLS) sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:             corev3.ApiConfigSource_GRPC,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: t.SDS.Cluster},
			}}},
		}},
	}}
}

// common is the workload's certificate and the mesh CA, accepting only a
// peer whose certificate has a URI SAN that one of sans matches.
func (t *TLS) common(sans []*tlsv3.SubjectAltNameMatcher, alpn ...string) *tlsv3.CommonTlsContext {
	c := &tlsv3.CommonTlsContext{
		TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		AlpnProtocols: alpn,
	}
	if t.SDS == nil {
		c.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: file(t.CertFile), PrivateKey: file(t.KeyFile)}}
		c.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: file(t.CAFile), MatchTypedSubjectAltNames: sans,
		}}
		return c
	}
	c.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{t.sdsSecret(t.SDS.Cert)}
	c.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
		CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: t.sdsSecret(t.SDS.CA),
		},
	}
	return c
}

// downstream requires a client certificate from the mesh CA naming an
// identity of trustDomain.
func (t *TLS) downstream(trustDomain string) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         t.common([]*tlsv3.SubjectAltNameMatcher{uriSAN("spiffe://"+trustDomain+"/", true)}, "h2", "http/1.1"),
		RequireClientCertificate: boolValue(true),
	}
	return transportSocket(ctx)
}

// upstream presents the workload's certificate and accepts only a server
// whose certificate names identity.
func (t *TLS) upstream(identity string, alpn ...string) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: t.common([]*tlsv3.SubjectAltNameMatcher{uriSAN(identity, false)}, alpn...)}
	return transportSocket(ctx)
}

func transportSocket(ctx validatable) (*corev3.TransportSocket, error) {
	a, err := pack(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{
		Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a},
	}, nil
}
