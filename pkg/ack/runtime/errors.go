package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/smithy-go"
)

// ErrNotFound is returned (wrapped) by ReadOne when the AWS resource does not exist.
var ErrNotFound = errors.New("resource not found")

// TerminalError is an error that no retry can fix: only a change of the
// spec (or of the AWS resource) can. It is reported as ACK.Terminal=True and
// the resource is not requeued.
type TerminalError struct{ Msg string }

func (e *TerminalError) Error() string { return e.Msg }

// Terminal returns a TerminalError with a formatted message.
func Terminal(format string, args ...any) error {
	return &TerminalError{Msg: fmt.Sprintf(format, args...)}
}

// RequeueError asks for another loop after a delay without reporting an
// error condition (for example an update that has to wait until the
// resource leaves a transitional state).
type RequeueError struct {
	After  time.Duration
	Reason string
}

func (e *RequeueError) Error() string { return e.Reason }

// RequeueAfter returns a RequeueError.
func RequeueAfter(d time.Duration, format string, args ...any) error {
	return &RequeueError{After: d, Reason: fmt.Sprintf(format, args...)}
}

// ErrorClass is how the reconciler treats an error.
type ErrorClass int

// Error classes.
const (
	ClassNone ErrorClass = iota
	ClassNotFound
	ClassTerminal
	ClassRecoverable
	ClassRequeue
)

// Classifier knows a kind's AWS error codes.
type Classifier struct {
	// NotFoundCodes are the AWS error codes meaning "does not exist".
	NotFoundCodes []string
	// TerminalCodes are the AWS error codes that no retry can fix.
	TerminalCodes []string
}

// AWSErrorCode returns the AWS error code of err, or "".
func AWSErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// AWSErrorMessage returns "Code: message" for an AWS API error, or err's text.
func AWSErrorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if m := ae.ErrorMessage(); m != "" {
			return ae.ErrorCode() + ": " + m
		}
		return ae.ErrorCode()
	}
	return err.Error()
}

// IsNotFound reports whether err is ErrNotFound or carries one of the codes.
func (c Classifier) IsNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	code := AWSErrorCode(err)
	for _, nf := range c.NotFoundCodes {
		if code == nf {
			return true
		}
	}
	return false
}

// Classify returns the class of err.
func (c Classifier) Classify(err error) ErrorClass {
	if err == nil {
		return ClassNone
	}
	var te *TerminalError
	if errors.As(err, &te) {
		return ClassTerminal
	}
	var re *RequeueError
	if errors.As(err, &re) {
		return ClassRequeue
	}
	if c.IsNotFound(err) {
		return ClassNotFound
	}
	code := AWSErrorCode(err)
	for _, tc := range c.TerminalCodes {
		if code == tc {
			return ClassTerminal
		}
	}
	return ClassRecoverable
}
