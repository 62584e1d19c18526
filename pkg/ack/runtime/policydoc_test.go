package runtime

import (
	"net/url"
	"strings"
	"testing"
)

const s3WritePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject"],
      "Resource": ["arn:aws:s3:::b/*"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
      "Resource": ["arn:aws:s3:::b"]
    }
  ]
}`

func TestEqualPolicyDocuments(t *testing.T) {
	// IAM's own encoding: RFC 3986, as GetRole returns trust policies.
	iamEncoded := strings.ReplaceAll(url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"pods.eks.amazonaws.com"}}]}`), "+", "%20")
	cases := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", s3WritePolicy, s3WritePolicy, true},
		{"whitespace and key order", s3WritePolicy,
			`{"Statement":[{"Resource":["arn:aws:s3:::b/*"],"Action":["s3:GetObject","s3:PutObject","s3:PutObjectAcl","s3:DeleteObject"],"Effect":"Allow"},{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::b"]}],"Version":"2012-10-17"}`, true},
		{"statement order", s3WritePolicy,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::b"]},{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:PutObjectAcl","s3:DeleteObject"],"Resource":["arn:aws:s3:::b/*"]}]}`, true},
		{"action order, duplicates and case", s3WritePolicy,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:deleteobject","s3:GetObject","s3:PutObjectAcl","s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket"],"Resource":"arn:aws:s3:::b"}]}`, true},
		{"single statement object vs list",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"pods.eks.amazonaws.com"}}}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole"],"Principal":{"Service":["pods.eks.amazonaws.com"]}}]}`, true},
		{"URL-encoded (IAM)", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"pods.eks.amazonaws.com"}}}`, iamEncoded, true},
		{"condition value types and key case",
			`{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}`,
			`{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:securetransport":["false"]}}}]}`, true},
		{"resource case matters", `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::B"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b"}]}`, false},
		{"different action", s3WritePolicy, strings.Replace(s3WritePolicy, "s3:PutObjectAcl", "s3:GetObjectAcl", 1), false},
		{"effect", s3WritePolicy, strings.Replace(s3WritePolicy, `"Allow"`, `"Deny"`, 1), false},
		{"statement dropped",
			`{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"},{"Effect":"Allow","Action":"c:d","Resource":"*"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}`, false},
		{"principal star differs from AWS star", `{"Statement":[{"Effect":"Allow","Action":"s3:*","Principal":"*"}]}`,
			`{"Statement":[{"Effect":"Allow","Action":"s3:*","Principal":{"AWS":"*"}}]}`, false},
		{"version", `{"Version":"2012-10-17","Statement":[]}`, `{"Version":"2008-10-17","Statement":[]}`, false},
		{"not JSON, same text", "not json ", "not json", true},
		{"not JSON vs JSON", "not json", `{}`, false},
		{"data after the document", `{"Statement":[]}`, `{"Statement":[]} {"Statement":[{"Effect":"Deny"}]}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := EqualPolicyDocuments(c.a, c.b); got != c.want {
				ca, _ := CanonicalPolicyDocument(c.a)
				cb, _ := CanonicalPolicyDocument(c.b)
				t.Fatalf("EqualPolicyDocuments = %v, want %v\n a: %s\n b: %s", got, c.want, ca, cb)
			}
			if got := EqualPolicyDocuments(c.b, c.a); got != c.want {
				t.Fatalf("not symmetric")
			}
		})
	}
}

func TestDecodePolicyDocument(t *testing.T) {
	plain := `{"Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::a+b/100%"}]}`
	if got := DecodePolicyDocument(plain); got != plain {
		t.Fatalf("plain JSON changed: %s", got)
	}
	enc := strings.ReplaceAll(url.QueryEscape(plain), "+", "%20")
	if got := DecodePolicyDocument(enc); got != plain {
		t.Fatalf("decoded %s", got)
	}
	if got := DecodePolicyDocument("%zz"); got != "%zz" {
		t.Fatalf("invalid encoding changed: %s", got)
	}
}

func TestCanonicalPolicyDocument(t *testing.T) {
	got, err := CanonicalPolicyDocument(`{"Version":"2012-10-17","Statement":{"Action":["b:x","A:y"],"Effect":"Allow","Resource":"*"}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Statement":[{"Action":["a:y","b:x"],"Effect":"Allow","Resource":["*"]}],"Version":"2012-10-17"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := CanonicalPolicyDocument("{"); err == nil {
		t.Fatal("no error for broken JSON")
	}
}
