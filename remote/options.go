package remote

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"slices"

	"connectrpc.com/connect"
)

// A ClientOption configures a [Transport].
type ClientOption interface {
	applyToClient(*clientConfig)
}

// A HandlerOption configures the handler of [NewHandler].
type HandlerOption interface {
	applyToHandler(*handlerConfig)
}

// An Option configures both a [Transport] and a handler.
type Option interface {
	ClientOption
	HandlerOption
}

type clientConfig struct {
	token      string
	httpClient connect.HTTPClient
	tls        *tls.Config
	connect    []connect.ClientOption
	errors     *knownErrors
	session    sessionLimits
}

type handlerConfig struct {
	insecure bool
	tokens   map[[sha256.Size]byte]*principal
	certs    map[string]*principal
	connect  []connect.HandlerOption
	errors   *knownErrors
	session  sessionLimits
}

type clientOptionFunc func(*clientConfig)

func (f clientOptionFunc) applyToClient(c *clientConfig) { f(c) }

type handlerOptionFunc func(*handlerConfig)

func (f handlerOptionFunc) applyToHandler(c *handlerConfig) { f(c) }

// WithBearerToken makes a [Transport] present token to the handler, which
// must know it ([AllowToken]). It travels in the Workers-Remote-Authorization
// header, so that a Fetch keeps its own Authorization header.
func WithBearerToken(token string) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.token = token })
}

// WithHTTPClient makes a [Transport] send its requests with client instead
// of its own. By default a Transport speaks HTTP/2: over TLS for an https://
// base URL, and unencrypted (h2c, prior knowledge) for http://, so the server
// must accept it (see [NewHandler]).
func WithHTTPClient(client connect.HTTPClient) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.httpClient = client })
}

// WithTLSConfig sets the TLS configuration of a [Transport]'s own HTTP
// client, for an https:// base URL: the roots that verify the server and,
// for mutual TLS, the client certificate the handler knows the caller by
// ([AllowCertificate]).
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.tls = cfg })
}

// WithClientOptions passes connect options to a [Transport]'s connect
// client, such as connect.WithGRPC() to speak gRPC, or compression.
func WithClientOptions(opts ...connect.ClientOption) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.connect = append(c.connect, opts...) })
}

// WithHandlerOptions passes connect options to the connect handler of RPC
// calls, such as interceptors for logging or metrics.
func WithHandlerOptions(opts ...connect.HandlerOption) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) { c.connect = append(c.connect, opts...) })
}

// WithInterceptors adds connect interceptors to a [Transport]'s RPC calls,
// or to a handler's.
func WithInterceptors(interceptors ...connect.Interceptor) Option {
	return interceptorsOption(interceptors)
}

type interceptorsOption []connect.Interceptor

func (o interceptorsOption) applyToClient(c *clientConfig) {
	c.connect = append(c.connect, connect.WithInterceptors(o...))
}

func (o interceptorsOption) applyToHandler(c *handlerConfig) {
	c.connect = append(c.connect, connect.WithInterceptors(o...))
}

// Allow is what a credential may call: one entrypoint of one service, or
// the objects of one Durable Object class the service hosts, and
// optionally only some of their methods.
//
// A rule with Class set allows calls of the objects of that class (every
// ID), and no entrypoint: Allow{Service: "counter", Class: "Counter",
// Methods: []string{"Get"}} lets a credential call Get on any Counter of
// worker "counter". A rule without Class allows no Durable Object, even
// with Entrypoint "*": an object's state outlives calls, so reaching it is
// granted on its own.
type Allow struct {
	Service    string   // a service name, or "*" for every service
	Entrypoint string   // a named entrypoint, "" (or "default") for the default one, or "*" for all; ignored with Class
	Class      string   // a Durable Object class of Service, or "*" for all of them; "" for an entrypoint rule
	Methods    []string // the RPC methods, and "Fetch" for HTTP; nil for all of them
}

func (a Allow) allows(service, entrypoint, method string) bool {
	if a.Class != "" || a.Service != "*" && a.Service != service {
		return false
	}
	ep := a.Entrypoint
	if ep == "default" {
		ep = ""
	}
	if ep != "*" && ep != entrypoint {
		return false
	}
	if a.Methods == nil {
		return true
	}
	for _, m := range a.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// principal is an authenticated caller and what it may call.
type principal struct {
	name  string
	all   bool
	allow []Allow
}

// allowsObject reports whether p may call method on the objects of class
// of service.
func (p *principal) allowsObject(service, class, method string) bool {
	if p.all {
		return true
	}
	for _, a := range p.allow {
		if a.Class == "" || a.Class != "*" && a.Class != class || a.Service != "*" && a.Service != service {
			continue
		}
		if a.Methods == nil || slices.Contains(a.Methods, method) {
			return true
		}
	}
	return false
}

func (p *principal) allows(service, entrypoint, method string) bool {
	if p.all {
		return true
	}
	for _, a := range p.allow {
		if a.allows(service, entrypoint, method) {
			return true
		}
	}
	return false
}

// AllowToken makes the handler accept callers that present token (see
// [WithBearerToken]), and lets them call what allow lists; nothing else
// (403). Use a long random token per caller, and TLS outside a private
// network: whoever holds it may call as that caller, props included.
// Several AllowToken options add up, each with its own token: [NewHandler]
// panics when two give the same one, as one of them would lose its
// permissions.
func AllowToken(token string, allow ...Allow) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) {
		if token == "" {
			return
		}
		if c.tokens == nil {
			c.tokens = map[[sha256.Size]byte]*principal{}
		}
		key := sha256.Sum256([]byte(token))
		if c.tokens[key] != nil {
			// One of the two would silently lose its permissions.
			panic("remote: NewHandler: AllowToken was given the same token twice: give each caller its own token, and list all of its Allows in one AllowToken")
		}
		c.tokens[key] = &principal{name: "token", allow: append([]Allow(nil), allow...)}
	})
}

// AllowCertificate makes the handler accept callers whose TLS client
// certificate, verified by the server's tls.Config (ClientCAs, with
// ClientAuth at least VerifyClientCertIfGiven), names identity: as its
// subject common name, or one of its DNS, URI (a SPIFFE ID, say) or email
// subject alternative names. They may call what allow lists; nothing else
// (403). Several AllowCertificate options add up, each with its own
// identity: [NewHandler] panics when two name the same one.
func AllowCertificate(identity string, allow ...Allow) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) {
		if identity == "" {
			return
		}
		if c.certs == nil {
			c.certs = map[string]*principal{}
		}
		if c.certs[identity] != nil {
			panic(fmt.Sprintf("remote: NewHandler: AllowCertificate was given the identity %q twice: list all of its Allows in one AllowCertificate", identity))
		}
		c.certs[identity] = &principal{name: identity, allow: append([]Allow(nil), allow...)}
	})
}

// InsecureAllowAll makes the handler serve every request, authenticated or
// not, with every service, entrypoint and method, and trust the props each
// caller sends. Use it only where the network itself admits only trusted
// callers (a test, a loopback address, a locked-down private network). A
// handler given no credentials and not this option refuses every request.
func InsecureAllowAll() HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) { c.insecure = true })
}
