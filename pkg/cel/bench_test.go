package cel

import (
	"testing"
)

// The benchmark workload evaluates a handful of small expressions per
// instance many thousands of times; these measure one evaluation each.
func benchEval(b *testing.B, src string, template bool) {
	env := testEnv(b, EnvOptions{})
	var p *Program
	var err error
	if template {
		p, err = env.CompileTemplate(src)
	} else {
		p, err = env.Compile(src)
	}
	if err != nil {
		b.Fatal(err)
	}
	data := sampleData()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Eval(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalField(b *testing.B) { benchEval(b, "schema.spec.name", false) }
func BenchmarkEvalTemplate(b *testing.B) {
	benchEval(b, "${schema.spec.name}-config", true)
}
func BenchmarkEvalIntToString(b *testing.B) { benchEval(b, "string(schema.spec.replicas)", false) }
func BenchmarkEvalReadyWhen(b *testing.B) {
	benchEval(b, "deployment.spec.replicas == deployment.status.availableReplicas", false)
}
func BenchmarkEvalExists(b *testing.B) {
	benchEval(b, "deployment.status.conditions.exists(c, c.type == 'Available' && c.status == 'True')", false)
}
func BenchmarkEvalObject(b *testing.B) { benchEval(b, "deployment.status.conditions", false) }

func BenchmarkNewEnv(b *testing.B) {
	vars := testVars(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := NewEnv(vars, EnvOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	env := testEnv(b, EnvOptions{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := env.Compile("deployment.spec.replicas == deployment.status.availableReplicas"); err != nil {
			b.Fatal(err)
		}
	}
}
