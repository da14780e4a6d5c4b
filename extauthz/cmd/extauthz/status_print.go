package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/server"
)

// printAuthzStatus writes the replicas first (are they up, do they agree),
// then what the first one that answered holds, then EaaS.
func printAuthzStatus(w io.Writer, reps []replicaStatus, es *eaasv1.StatusResponse, eerr error) error {
	var first *server.Status
	epochs := []string{}
	up := 0
	for i := range reps {
		if reps[i].Err != nil {
			continue
		}
		up++
		if first == nil {
			first = &reps[i].St
		}
		if e := fmt.Sprint(reps[i].St.Epoch); !slices.Contains(epochs, e) {
			epochs = append(epochs, e)
		}
	}
	fmt.Fprintf(w, "replicas: %d of %d answering", up, len(reps))
	if len(epochs) > 1 {
		fmt.Fprintf(w, "; epochs differ (%s)", strings.Join(epochs, ", "))
	}
	fmt.Fprintln(w)
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(t, "  ADDRESS\tREPLICA\tEPOCH\tPOLICIES\tRULES\tQUARANTINED\tEAAS")
	for _, r := range reps {
		if r.Err != nil {
			fmt.Fprintf(t, "  %s\tno answer: %s\n", r.Addr, safe(r.Err.Error()))
			continue
		}
		fmt.Fprintf(t, "  %s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Addr, safe(r.St.Replica), r.St.Epoch, r.St.Policies, r.St.Rules,
			r.St.Quarantined, map[bool]string{true: "on", false: "off"}[r.St.EaaS])
	}
	t.Flush()
	if first == nil {
		printEaaS(w, es, eerr)
		return fmt.Errorf("no replica answered")
	}
	printQuarantines(w, first)
	printPolicyError(w, reps)
	printEaaS(w, es, eerr)
	return nil
}

func printQuarantines(w io.Writer, st *server.Status) {
	fmt.Fprintf(w, "quarantined: %d", st.Quarantined)
	if st.Quarantined > len(st.Quarantines) {
		fmt.Fprintf(w, " (the oldest %d shown)", len(st.Quarantines))
	}
	fmt.Fprintln(w)
	if len(st.Quarantines) == 0 {
		return
	}
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(t, "  WORKLOAD\tREASON\tSCORE\tSINCE\tUNTIL")
	for _, q := range st.Quarantines {
		until := "released by hand"
		if q.Expires != nil {
			until = q.Expires.Format(time.RFC3339)
		}
		fmt.Fprintf(t, "  %s\t%s\t%.2f\t%s\t%s\n", safe(q.Workload), safe(q.Reason), q.Score, q.Since.Format(time.RFC3339), until)
	}
	t.Flush()
}

// printPolicyError shows the newest refused policy change of any replica.
func printPolicyError(w io.Writer, reps []replicaStatus) {
	var last *server.PolicyError
	at := ""
	for _, r := range reps {
		if e := r.St.LastPolicyError; r.Err == nil && e != nil && (last == nil || e.At.After(last.At)) {
			last, at = e, r.Addr
		}
	}
	if last == nil {
		fmt.Fprintln(w, "last policy error: none since start")
		return
	}
	fmt.Fprintf(w, "last policy error (%s, %s): %s\n", last.At.Format(time.RFC3339), at, safe(last.Error))
}

func printEaaS(w io.Writer, es *eaasv1.StatusResponse, err error) {
	switch {
	case err != nil:
		fmt.Fprintf(w, "eaas: no answer from the coordinator: %s\n", safe(err.Error()))
		return
	case es == nil:
		return
	}
	fmt.Fprintf(w, "eaas coordinator %s: %d subscribers\n", safe(es.GetCoordinator()), len(es.GetSubscribers()))
	for _, s := range es.GetSubscribers() {
		fmt.Fprintf(w, "  subscriber %d: %d members, deception factor %d, %s, when no replica can serve: %s\n",
			s.GetId(), s.GetMembers(), s.GetDeceptionFactor(), safe(s.GetCipher()), safe(s.GetOnUnavailable()))
	}
	for _, r := range es.GetReplicas() {
		health := "healthy"
		if !r.GetHealthy() {
			health = "UNHEALTHY"
		}
		fmt.Fprintf(w, "  %s %s: %s, %d in flight, %d failures\n", safe(r.GetRole()), safe(r.GetName()), health, r.GetInFlight(), r.GetFailures())
	}
}

// safe replaces control and format characters: the text came over the
// network and the operator reads it in a terminal.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
