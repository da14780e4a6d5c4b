package policy

import (
	"fmt"

	"github.com/google/cel-go/cel"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
)

// celEnv declares the facts a condition may use:
//
//	source.principal, source.namespace, source.address
//	destination.principal, destination.namespace, destination.service, destination.labels (map)
//	request.method, request.path, request.host, request.headers (map, lower-case names)
var celEnv = mustEnv()

func mustEnv() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("source", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("destination", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		panic(err) // a static environment: fails at every start or never
	}
	return env
}

// Condition is a compiled CEL condition of a MeshwardPolicy.
type Condition struct {
	Name    string // namespace/policy/conditions[i] (name)
	require bool
	prg     cel.Program
	headers headerUse // see headers.go
}

// maxCELCost bounds one evaluation, so a condition cannot stall decisions.
const maxCELCost = 10_000

func compileCELCondition(c meshwardv1alpha1.Condition, ns, policy string, i int) (*Condition, error) {
	path := []any{"spec", "conditions", i}
	if c.Name == "" {
		return nil, &fieldError{at(path, "name"), "empty"}
	}
	out := &Condition{Name: fmt.Sprintf("%s/%s/conditions[%d] (%s)", ns, policy, i, c.Name)}
	switch c.Action {
	case "", "DENY":
	case "REQUIRE":
		out.require = true
	default:
		return nil, &fieldError{at(path, "action"), fmt.Sprintf("%q: want DENY or REQUIRE", c.Action)}
	}
	ast, iss := celEnv.Compile(c.Expression)
	if iss.Err() != nil {
		return nil, &fieldError{at(path, "expression"), "CEL: " + iss.Err().Error()}
	}
	if ast.OutputType() != cel.BoolType {
		return nil, &fieldError{at(path, "expression"), fmt.Sprintf("CEL: the expression is %s, want bool", ast.OutputType())}
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(maxCELCost))
	if err != nil {
		return nil, &fieldError{at(path, "expression"), "CEL: " + err.Error()}
	}
	out.prg = prg
	out.headers = celHeaderUse(ast)
	return out, nil
}

// Denies evaluates the condition; an evaluation error denies (fail closed).
func (c *Condition) Denies(r *Request) (bool, error) {
	var f facts
	derive(r, &f)
	labels := map[string]string{}
	for k, v := range r.DestinationLabels {
		labels[k] = v
	}
	headers := map[string]string{}
	for k, v := range r.Headers {
		headers[k] = v
	}
	out, _, err := c.prg.Eval(map[string]any{
		"source": map[string]string{"principal": f.principal, "namespace": f.namespace, "address": r.SourceAddress},
		"destination": map[string]any{"principal": r.Destination, "namespace": r.DestinationNS(),
			"service": r.DestinationService, "labels": labels},
		"request": map[string]any{"method": r.Method, "path": f.path, "host": r.Host, "headers": headers},
	})
	if err != nil {
		return true, err
	}
	v, ok := out.Value().(bool)
	if !ok {
		return true, fmt.Errorf("CEL: result %v is not a bool", out.Value())
	}
	return v != c.require, nil
}

// Conditions are the CEL conditions on calls to workloads of a namespace.
func (s *Set) Conditions(namespace string) []*Condition {
	if st, ok := s.settings[namespace]; ok {
		return st.Conditions
	}
	return nil
}
