package acktest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards the controllers' AWS requests on loopback to a server
// (moto, dynalite, versitygw), records every call and can inject faults:
// the protocol's own throttling error, 500 and 503, latency, connection
// resets and truncated responses. One proxy serves every protocol; the
// operation of a call is read from the request as AWS encodes it.
type Proxy struct {
	// Endpoint is the proxy's URL, to give the controllers as AWS endpoint.
	Endpoint string
	target   string

	mu     sync.Mutex
	calls  []Call
	faults []Fault
	// answer, if set, may answer a call itself instead of the server.
	answer func(c Call) ([]byte, bool)
	// rewrite, if set, rewrites the server's answer to a call.
	rewrite func(c Call, body []byte) []byte
}

// Call is one recorded request.
type Call struct {
	// Op is the operation: X-Amz-Target for the JSON protocols
	// ("AmazonSQS.SetQueueAttributes"), else the Action parameter of the
	// query protocols ("CreateRole"), else the HTTP method (S3's REST-XML).
	Op string
	// Service is the signing name from the Authorization header ("iam",
	// "ec2", "s3", …).
	Service string
	Method  string
	// URI is the path and query.
	URI string
	// Form holds the query protocols' parameters.
	Form url.Values
	// Fault is the fault injected instead of forwarding ("" if forwarded).
	Fault FaultKind
}

// IsRead reports whether the call only reads (Get, List, Describe, Head,
// S3's GET and HEAD).
func (c Call) IsRead() bool {
	name := c.Op[strings.LastIndex(c.Op, ".")+1:]
	for _, p := range []string{"Get", "List", "Describe", "Head"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == http.MethodGet || name == http.MethodHead
}

// NewProxy starts a proxy to target (http://host:port), stopped when the
// test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	if _, err := url.Parse(target); err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Endpoint: "http://" + l.Addr().String(), target: strings.TrimSuffix(target, "/")}
	srv := &http.Server{Handler: http.HandlerFunc(p.serve)}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return p
}

// Answer lets f answer calls itself (f returns false to forward).
func (p *Proxy) Answer(f func(c Call) ([]byte, bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = f
}

// Rewrite lets f change the server's successful answers.
func (p *Proxy) Rewrite(f func(c Call, body []byte) []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := Call{Service: signingService(r.Header.Get("Authorization")), Method: r.Method, URI: r.URL.RequestURI()}
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		c.Form, _ = url.ParseQuery(string(body))
	} else if r.URL.Query().Get("Action") != "" {
		c.Form = r.URL.Query()
	}
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		c.Op = r.Header.Get("X-Amz-Target")
	case c.Form.Get("Action") != "":
		c.Op = c.Form.Get("Action")
	default:
		c.Op = r.Method
	}
	p.mu.Lock()
	fault := p.pickFault(c)
	c.Fault = fault.Kind
	p.calls = append(p.calls, c)
	answer, rewrite := p.answer, p.rewrite
	p.mu.Unlock()
	if fault.Kind != "" && fault.Kind != Latency && fault.Kind != Truncate {
		fault.write(w, c)
		return
	}
	if fault.Kind == Latency {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(fault.Delay):
		}
	}
	if answer != nil {
		if out, ok := answer(c); ok {
			w.Header().Set("Content-Type", "text/xml")
			_, _ = w.Write(out)
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	req.Host = r.Host
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if rewrite != nil && resp.StatusCode == http.StatusOK {
		out = rewrite(c, out)
	}
	for k, v := range resp.Header {
		if k != "Content-Length" && k != "Content-Encoding" {
			w.Header()[k] = v
		}
	}
	if fault.Kind == Truncate {
		// The server acted on the call; its answer is lost half-way. An
		// answer without a body (HEAD, an empty 200) has nothing to cut,
		// so the connection is reset instead: either way the call fails.
		if r.Method == http.MethodHead || len(out) < 2 {
			reset(w)
		} else {
			truncate(w, resp.StatusCode, out)
		}
		return
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// signingService reads the service from a SigV4 Authorization header's
// credential scope (Credential=AKID/date/region/service/aws4_request).
func signingService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

// Count returns the number of requests so far.
func (p *Proxy) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// Calls returns the calls after the first n.
func (p *Proxy) Calls(n int) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n > len(p.calls) {
		n = len(p.calls)
	}
	return append([]Call(nil), p.calls[n:]...)
}

// OpsSince returns the operations of the calls after the first n.
func (p *Proxy) OpsSince(n int) []string {
	var out []string
	for _, c := range p.Calls(n) {
		out = append(out, c.Op)
	}
	return out
}

// Ops returns the number of requests so far per operation.
func (p *Proxy) Ops() map[string]int {
	out := map[string]int{}
	for _, c := range p.Calls(0) {
		out[c.Op]++
	}
	return out
}

// CountOp returns how many calls of op were made so far.
func (p *Proxy) CountOp(op string) int {
	return p.Ops()[op]
}

// Writes returns the operations so far that are not reads, in order.
func (p *Proxy) Writes() []string {
	var out []string
	for _, c := range p.Calls(0) {
		if !c.IsRead() {
			out = append(out, c.Op)
		}
	}
	return out
}

// Form returns the parameters of the last call of op (nil if none).
func (p *Proxy) Form(op string) url.Values {
	calls := p.Calls(0)
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Op == op {
			return calls[i].Form
		}
	}
	return nil
}

// Requests returns the requests so far as "METHOD /path?query".
func (p *Proxy) Requests() []string {
	var out []string
	for _, c := range p.Calls(0) {
		out = append(out, c.Method+" "+c.URI)
	}
	return out
}
