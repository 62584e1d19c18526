package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ACK's outbound AWS request counters, with ACK's names and labels: the
// error counter is labelled by HTTP status code (0: no HTTP response, e.g.
// a connection error or a cancelled call), not by op_type.
var (
	awsRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ack_outbound_api_requests_total",
		Help: "AWS API calls made by the ACK controllers, per service, operation type and operation.",
	}, []string{"service", "op_type", "op_id"})
	awsRequestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ack_outbound_api_requests_error_total",
		Help: "AWS API calls made by the ACK controllers that failed, per service, operation and HTTP status code.",
	}, []string{"service", "op_id", "status_code"})
)

// ACK's operation types.
const (
	OpReadOne       = "READ_ONE"
	OpReadMany      = "READ_MANY"
	OpCreate        = "CREATE"
	OpUpdate        = "UPDATE"
	OpDelete        = "DELETE"
	OpGetAttributes = "GET_ATTRIBUTES"
	OpSetAttributes = "SET_ATTRIBUTES"
)

// OpType classifies an AWS operation name the way ACK's generated resource
// managers label their calls: List* reads many; Get/Describe/Head read one
// (Get…Attributes: GET_ATTRIBUTES); Create* creates; Delete*/Remove*
// delete; Set…Attributes is SET_ATTRIBUTES; every other operation (Put*,
// Update*, Modify*, Tag*, …) is an UPDATE, as ACK records its S3 Put* calls.
func OpType(op string) string {
	switch {
	case strings.HasPrefix(op, "List"):
		return OpReadMany
	case strings.HasPrefix(op, "Get") && strings.HasSuffix(op, "Attributes"):
		return OpGetAttributes
	case strings.HasPrefix(op, "Set") && strings.HasSuffix(op, "Attributes"):
		return OpSetAttributes
	case strings.HasPrefix(op, "Get"), strings.HasPrefix(op, "Describe"), strings.HasPrefix(op, "Head"):
		return OpReadOne
	case strings.HasPrefix(op, "Create"):
		return OpCreate
	case strings.HasPrefix(op, "Delete"), strings.HasPrefix(op, "Remove"):
		return OpDelete
	default:
		return OpUpdate
	}
}

// IsWrite reports whether an operation type changes something in AWS.
func IsWrite(opType string) bool {
	switch opType {
	case OpReadOne, OpReadMany, OpGetAttributes:
		return false
	}
	return true
}

// AWSRequest records one AWS API call. status is the HTTP status code of a
// failed call (0 if it got no HTTP response); failed says whether it failed.
func AWSRequest(service, op string, failed bool, status int) {
	awsRequests.WithLabelValues(service, OpType(op), op).Inc()
	if failed {
		awsRequestErrors.WithLabelValues(service, op, strconv.Itoa(status)).Inc()
	}
}
