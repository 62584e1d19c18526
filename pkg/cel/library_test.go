package cel

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestKroLibraries(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	cases := []struct {
		expr string
		want any
	}{
		// maps
		{"{'a': 1, 'b': 2}.merge({'b': 3, 'c': 4})", map[string]any{"a": int64(1), "b": int64(3), "c": int64(4)}},
		{"schema.spec.tags.merge({'team': 'x'})", map[string]any{"env": "dev", "team": "x"}},
		{"schema.spec.tags.merge({'env': 'prod'}).env", "prod"},
		{"{'a': {'x': 1, 'y': [1, 2]}, 'b': 1}.deepMerge({'a': {'y': [3], 'z': 2}, 'c': 3})",
			map[string]any{"a": map[string]any{"x": int64(1), "y": []any{int64(3)}, "z": int64(2)}, "b": int64(1), "c": int64(3)}},
		{"schema.spec.values.deepMerge({'a': {'c': 'new'}}).a", map[string]any{"b": "deep", "c": "new"}},
		{"{'a': 1}.deepMerge('scalar')", "scalar"},
		// json
		{"json.unmarshal('{\"a\": [1, 2.5, \"x\", true, null]}')", map[string]any{"a": []any{int64(1), 2.5, "x", true, nil}}},
		{"json.unmarshal('{\"n\": 3}').n + 1", int64(4)},
		{"json.marshal({'b': 1, 'a': ['<x>', 2.5, true, null]})", `{"a":["<x>",2.5,true,null],"b":1}`},
		{"json.marshal(schema.spec.items[0])", `{"name":"one","port":1}`},
		{"json.marshal(deployment.metadata.creationTimestamp)", `"2026-01-02T03:04:05Z"`},
		{"json.unmarshal(json.marshal(schema.spec.values)) == schema.spec.values", true},
		// hash
		{"base64.encode(hash.sha256('hello'))", "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="},
		{"base64.encode(hash.md5('hello'))", "XUFAKrxLKna5cZ2REBfFkg=="},
		{"base64.encode(hash.fnv64a('hello'))", "pDDYRoCqvQs="},          // 0xa430d84680aabd0b
		{`hash.fnv64a('') == b'\xcb\xf2\x9c\xe4\x84\x22\x23\x25'`, true}, // FNV-1a offset basis
		{"size(hash.sha256(schema.spec.name))", int64(32)},
		// lists
		{"lists.setAtIndex([1, 2, 3], 1, 9)", []any{int64(1), int64(9), int64(3)}},
		{"lists.insertAtIndex([1, 2], 0, 0)", []any{int64(0), int64(1), int64(2)}},
		{"lists.insertAtIndex([1, 2], 2, 3)", []any{int64(1), int64(2), int64(3)}},
		{"lists.removeAtIndex([1, 2, 3], 2)", []any{int64(1), int64(2)}},
		{"lists.setAtIndex(schema.spec.items, 0, schema.spec.items[1]).map(i, i.name)", []any{"two", "two"}},
		// random
		{"random.seededString(12, 'seed') == random.seededString(12, 'seed')", true},
		{"random.seededString(12, 'seed') != random.seededString(12, 'other')", true},
		{"size(random.seededString(100, schema.metadata.name))", int64(100)},
		{"random.seededString(0, 'x')", ""},
		{"random.seededInt(5, 6, 'x')", int64(5)},
		{"random.seededInt(-10, 10, 'abc') >= -10 && random.seededInt(-10, 10, 'abc') < 10", true},
	}
	for _, c := range cases {
		got, err := eval(t, env, c.expr, data)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}

	errCases := map[string]string{
		"lists.setAtIndex([1], 1, 2)":    "out of range",
		"lists.insertAtIndex([1], 2, 2)": "out of range",
		"lists.removeAtIndex([], 0)":     "out of range",
		"random.seededInt(3, 3, 'x')":    "must be less than",
		"random.seededString(-1, 'x')":   "length must be",
		"json.unmarshal('{')":            "json.unmarshal",
		"json.unmarshal('1 2')":          "json.unmarshal",
		"{'a': 1}.merge({'b': 'x'})":     "", // compile error below
	}
	for expr, want := range errCases {
		p, err := env.Compile(expr)
		if want == "" {
			if err == nil {
				t.Errorf("%s: want compile error", expr)
			}
			continue
		}
		if err != nil {
			// Constant arguments may be folded at compile time.
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want error %q, got %v", expr, want, err)
			}
			continue
		}
		if _, err := p.Eval(data); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error %q, got %v", expr, want, err)
		}
	}
}

func TestSeededRandomProperties(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-z]*$`)
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 200; i++ {
		s, err := seededString(20, "seed-"+itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 20 || !re.MatchString(s) {
			t.Fatalf("bad string %q", s)
		}
		if seen[s] {
			t.Fatalf("duplicate %q", s)
		}
		seen[s] = true
		for j := range s {
			counts[s[j]]++
		}
	}
	if len(counts) != 36 {
		t.Errorf("only %d distinct characters used", len(counts))
	}
	// Stable across releases: names derived from it must not change.
	if s, _ := seededString(10, "x"); s != "h1j0sr8jex" {
		t.Errorf("seededString(10, x) = %q; the algorithm changed", s)
	}
	hits := map[int64]int{}
	for i := 0; i < 1000; i++ {
		v, err := seededInt(10, 15, itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if v < 10 || v >= 15 {
			t.Fatalf("out of range: %d", v)
		}
		hits[v]++
	}
	if len(hits) != 5 {
		t.Errorf("seededInt covers %d of 5 values", len(hits))
	}
	if v, err := seededInt(-1<<63, 1<<63-1, "wide"); err != nil || v == 0 {
		t.Errorf("wide range: %d %v", v, err)
	}
}

func TestStandardLibraries(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	cases := []struct {
		expr string
		want any
	}{
		// cel-go extensions
		{"'a,b,c'.split(',')", []any{"a", "b", "c"}},
		{"['a', 'b'].join('-')", "a-b"},
		{"schema.spec.items.map(i, i.name).join(',')", "one,two"},
		{"'Hello'.lowerAscii() + 'x'.upperAscii()", "helloX"},
		{"'%s-%d'.format([schema.spec.name, schema.spec.replicas])", "app-2"},
		{"base64.encode(b'hi')", "aGk="},
		{"string(base64.decode('aGk='))", "hi"},
		{"cel.bind(x, schema.spec.replicas, x * x)", int64(4)},
		{"{'a': 1, 'b': 2}.all(k, v, v > 0)", true},
		{"schema.spec.tags.transformMap(k, v, v + '!')", map[string]any{"env": "dev!"}},
		{"[3, 1, 2].sort()", []any{int64(1), int64(2), int64(3)}},
		{"lists.range(3)", []any{int64(0), int64(1), int64(2)}},
		{"[[1], [2, 3]].flatten()", []any{int64(1), int64(2), int64(3)}},
		{"schema.spec.?values.?a.?b.orValue('none')", "deep"},
		{"optional.of(1).hasValue()", true},
		// Kubernetes libraries
		{"[1, 2, 3].isSorted() && [1, 5].max() == 5", true},
		{"quantity('1Gi').asInteger()", int64(1 << 30)},
		{"quantity('500m').isLessThan(quantity('1'))", true},
		{"url('https://example.com:8443/x').getHost()", "example.com:8443"},
		{"isURL('not a url')", false},
		{"'abc123'.find('[0-9]+')", "123"},
		{"ip('10.0.0.1').family()", int64(4)},
		{"cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))", true},
		{"semver('1.2.3').isLessThan(semver('1.10.0'))", true},
		{"isSemver('1.2')", false},
	}
	for _, c := range cases {
		got, err := eval(t, env, c.expr, data)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}
}
