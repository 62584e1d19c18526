package acktest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is a transient failure the proxy injects.
type FaultKind string

const (
	// Throttle answers with the protocol's throttling error: EC2's
	// RequestLimitExceeded (503), the query protocols' Throttling (400,
	// IAM, STS, RDS, SQS-query), the JSON protocols' ThrottlingException
	// (400, DynamoDB, SQS, Secrets Manager) and S3's SlowDown (503).
	Throttle FaultKind = "throttle"
	// InternalError and Unavailable answer 500 and 503 with the
	// protocol's error body (InternalError / ServiceUnavailable).
	InternalError FaultKind = "500"
	Unavailable   FaultKind = "503"
	// Latency forwards the call after Fault.Delay.
	Latency FaultKind = "latency"
	// Reset closes the connection without an answer (TCP RST).
	Reset FaultKind = "reset"
	// Truncate forwards the call but sends only the first half of the
	// answer's body under the full Content-Length, then closes; an answer
	// without a body is dropped (connection reset) after the server acted.
	Truncate FaultKind = "truncate"
	// Reject answers 400 with Fault.Code, as AWS refuses a request whose
	// parameters it does not accept (no transient fault: for tests of
	// Terminal resources where the local server accepts anything).
	Reject FaultKind = "reject"
)

// Fault is one fault rule: Kind is injected into the calls Match selects
// (nil: all calls), Every one of them (0 or 1: each). With Cycle, the
// selected calls get its kinds in turn instead.
type Fault struct {
	Kind  FaultKind
	Cycle []FaultKind
	Match func(Call) bool
	Every int
	// Delay is Latency's delay (default 2 s).
	Delay time.Duration
	// Code is Reject's error code.
	Code string

	seen int
}

// Inject replaces the faults; calls are checked against them in order and
// get the first that fires.
func (p *Proxy) Inject(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
	for _, f := range faults {
		if f.Kind == Latency && f.Delay == 0 {
			f.Delay = 2 * time.Second
		}
		p.faults = append(p.faults, f)
	}
}

// Clear stops injecting faults.
func (p *Proxy) Clear() { p.Inject() }

// Injected counts the calls that got a fault so far.
func (p *Proxy) Injected() int {
	n := 0
	for _, c := range p.Calls(0) {
		if c.Fault != "" {
			n++
		}
	}
	return n
}

// pickFault returns the fault for c (Kind "" for none); p.mu is held.
func (p *Proxy) pickFault(c Call) Fault {
	for i := range p.faults {
		f := &p.faults[i]
		if f.Match != nil && !f.Match(c) {
			continue
		}
		f.seen++
		if f.Every > 1 && f.seen%f.Every != 0 {
			continue
		}
		out := *f
		if len(f.Cycle) > 0 {
			out.Kind = f.Cycle[f.seen%len(f.Cycle)]
		}
		return out
	}
	return Fault{}
}

// protocol is how a service encodes its errors.
type protocol int

const (
	protoQuery   protocol = iota // IAM, STS, RDS, SQS-query: <ErrorResponse>
	protoEC2                     // <Response><Errors>
	protoJSON                    // DynamoDB, SQS, Secrets Manager: {"__type"}
	protoRESTXML                 // S3: <Error>
)

func protocolOf(c Call) protocol {
	switch {
	case c.Service == "ec2":
		return protoEC2
	case c.Service == "s3":
		return protoRESTXML
	case c.Form == nil && strings.Contains(c.Op, "."):
		return protoJSON // the operation came from X-Amz-Target
	}
	return protoQuery
}

// write answers c with the fault as the service's protocol encodes it.
func (f Fault) write(w http.ResponseWriter, c Call) {
	if f.Kind == Reset {
		reset(w)
		return
	}
	proto := protocolOf(c)
	status, code, msg := http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."
	switch f.Kind {
	case Unavailable:
		status, code, msg = http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable. Please try again."
	case Reject:
		status, code, msg = http.StatusBadRequest, f.Code, "The request was rejected (fault injected by the test proxy)."
	case Throttle:
		switch proto {
		case protoEC2:
			status, code, msg = http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded."
		case protoRESTXML:
			status, code, msg = http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."
		case protoJSON:
			status, code, msg = http.StatusBadRequest, "ThrottlingException", "Rate exceeded"
		default:
			status, code, msg = http.StatusBadRequest, "Throttling", "Rate exceeded"
		}
	}
	const requestID = "00000000-0000-0000-0000-0000fa017000"
	var body string
	switch proto {
	case protoJSON:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", code)
		w.Header().Set("X-Amzn-Requestid", requestID)
		body = fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
	case protoEC2:
		w.Header().Set("Content-Type", "text/xml")
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`, code, msg, requestID)
	case protoRESTXML:
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", requestID)
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`, code, msg, requestID)
	default:
		typ := "Receiver"
		if status < 500 {
			typ = "Sender"
		}
		w.Header().Set("Content-Type", "text/xml")
		body = fmt.Sprintf(`<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, code, msg, requestID)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// truncate sends half of body under the full Content-Length and closes.
func truncate(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body[:len(body)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler) // the server closes the connection
}
