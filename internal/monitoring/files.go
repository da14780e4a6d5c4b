package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFile bounds a dashboard or rules file.
const MaxFile = 4 << 20

// Query is one PromQL expression and where it was found.
type Query struct {
	Where string
	Expr  string
}

type dashboard struct {
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// Dashboard returns every query of a Grafana dashboard (JSON model). Each
// panel must use the dashboard's datasource variable, so the dashboard
// works against whichever Prometheus it is imported with.
func Dashboard(name string, b []byte) ([]Query, error) {
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(b), MaxFile)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		return nil, fmt.Errorf("%s: no datasource variable in templating", name)
	}
	var out []Query
	ids := map[int]bool{}
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if ids[p.ID] {
				return fmt.Errorf("%s: panel id %d used twice", name, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != dsVar) {
				return fmt.Errorf("%s: panel %q does not use the datasource variable %s", name, p.Title, dsVar)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("%s: panel %q target %s has no expression", name, p.Title, t.RefID)
				}
				out = append(out, Query{Where: fmt.Sprintf("%s: panel %q target %s", name, p.Title, t.RefID), Expr: t.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(d.Panels)
}

type ruleFile struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

var (
	promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	severities   = map[string]bool{"critical": true, "warning": true, "info": true}
)

// Rules returns every expression of a PrometheusRule
// (monitoring.coreos.com/v1). An alert must say how bad it is (severity),
// what happened (summary) and what to do (description).
func Rules(name string, b []byte) ([]Query, error) {
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(b), MaxFile)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if f.APIVersion != "monitoring.coreos.com/v1" || f.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: %s %s, want monitoring.coreos.com/v1 PrometheusRule", name, f.APIVersion, f.Kind)
	}
	var out []Query
	seen := map[string]bool{}
	for _, g := range f.Spec.Groups {
		for i, r := range g.Rules {
			where := fmt.Sprintf("%s: group %s rule %d (%s%s)", name, g.Name, i, r.Alert, r.Record)
			if err := r.check(); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if seen[r.Alert+r.Record] {
				return nil, fmt.Errorf("%s: named twice", where)
			}
			seen[r.Alert+r.Record] = true
			out = append(out, Query{Where: where, Expr: r.Expr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no rules", name)
	}
	return out, nil
}

func (r rule) check() error {
	switch {
	case (r.Alert == "") == (r.Record == ""):
		return fmt.Errorf("a rule is an alert or a record, not both or neither")
	case strings.TrimSpace(r.Expr) == "":
		return fmt.Errorf("no expr")
	case r.For != "" && !promDuration.MatchString(r.For):
		return fmt.Errorf("for: %q is not a Prometheus duration", r.For)
	case r.Record != "":
		return nil
	case !severities[r.Labels["severity"]]:
		return fmt.Errorf("severity %q: want critical, warning or info", r.Labels["severity"])
	case r.Annotations["summary"] == "" || r.Annotations["description"] == "":
		return fmt.Errorf("an alert needs the annotations summary and description")
	}
	return nil
}
