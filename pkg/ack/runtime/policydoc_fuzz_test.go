package runtime

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzPolicyDocuments compares arbitrary policy documents. Invariants: no
// panic; equality is reflexive and symmetric; the canonical form is a fixed
// point; a JSON document equals its IAM URL-encoding (what GetRole returns).
func FuzzPolicyDocuments(f *testing.F) {
	for _, s := range []string{
		s3WritePolicy,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"pods.eks.amazonaws.com"}}}`,
		`{"Statement":[{"Effect":"Deny","NotAction":["S3:*","s3:*"],"Condition":{"Bool":{"AWS:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}]}`,
		`{"Statement":[{"Principal":"*","Resource":"arn:aws:sqs:us-east-1:1:q"},{"Principal":{"AWS":["a","a"]}}]}`,
		`{"Statement":[1,"x",null,[{}]]}`,
		`%7B%22Statement%22%3A%5B%5D%7D`,
		`{"a":"100%+"}`,
		``, `not json`, `[]`, `{"Statement":{"Condition":{"X":[1]}}}`,
	} {
		f.Add(s, s3WritePolicy)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !EqualPolicyDocuments(a, a) {
			t.Fatalf("document differs from itself: %q", a)
		}
		if EqualPolicyDocuments(a, b) != EqualPolicyDocuments(b, a) {
			t.Fatalf("comparison is not symmetric: %q vs %q", a, b)
		}
		ca, err := CanonicalPolicyDocument(a)
		if err != nil {
			return
		}
		cca, err := CanonicalPolicyDocument(ca)
		if err != nil || cca != ca {
			t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", ca, cca, err)
		}
		if strings.HasPrefix(strings.TrimSpace(a), "{") && json.Valid([]byte(a)) {
			enc := strings.ReplaceAll(url.QueryEscape(a), "+", "%20")
			if !EqualPolicyDocuments(a, enc) {
				t.Fatalf("document differs from its IAM URL-encoding: %q", a)
			}
		}
	})
}
