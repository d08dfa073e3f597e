package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteJSON writes r as one JSON object and a newline.
func (r *ScenarioResult) WriteJSON(w io.Writer) error {
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// sp formats a spread as "median (min–max)" with f.
func sp(s Spread, f func(float64) string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

// msOrNone is ms, or "–" for 0 (a figure the server does not export).
func msOrNone(v float64) string {
	if v == 0 {
		return "–"
	}
	return ms(v)
}

func us2(v float64) string { return fmt.Sprintf("%.2f", v) }
func us0(v float64) string { return fmt.Sprintf("%.0f", v) }

// WriteTable writes the summary per system and step, the ratios of the
// first system to each other one (at equal steps), and the runs' errors.
func (r *ScenarioResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario %s, %d repeat(s); medians (lowest–highest)\n", r.Scenario, r.Repeats)
	if len(r.DialPerS) > 0 {
		fmt.Fprintf(tw, "bare loopback TCP dials/s, same run: %s\n", sp(spreadOf(r.DialPerS), human))
	}
	if len(r.DialCPUUS) > 0 {
		fmt.Fprintf(tw, "CPU µs per bare dial (both ends, connect+accept+close): %s\n", sp(spreadOf(r.DialCPUUS), us0))
	}
	// An empty line ends a block of columns (text/tabwriter).
	fmt.Fprintln(tw)
	if r.Scenario == ScenarioConnect {
		fmt.Fprintln(tw, "system\tconnects/s\tCPU µs/conn\tuser\tsystem\tRSS/conn\tclient CPU µs/conn")
		for _, s := range r.Summary {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.System, sp(s.ConnectPerS, human), sp(s.CPUPerConnUS, us0),
				sp(s.UserPerConnUS, us0), sp(s.SysPerConnUS, us0), sp(s.RSSPerConnBytes, bytesH), sp(s.ClientCPUPerConnUS, us0))
		}
	} else {
		fmt.Fprintln(tw, "system\tticks/s\tdeliveries/s\tp99\tCPU µs/delivery\tuser\tsystem\tGC p99\tgoroutines\tlossy runs\tclient CPU µs/delivery")
		for _, s := range r.Summary {
			for _, st := range s.Steps {
				fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.System, st.Rate, sp(st.DeliveriesPerS, human), sp(st.P99MS, ms),
					sp(st.CPUPerDeliveryUS, us2), sp(st.UserPerDeliveryUS, us2), sp(st.SysPerDeliveryUS, us2), sp(st.GCPauseP99MS, msOrNone), sp(st.GoroutinesMax, us0), st.Lossy,
					sp(st.ClientCPUPerDeliveryUS, us2))
			}
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "system\thighest deliveries/s with p99 < 100 ms\tsaturation")
		for _, s := range r.Summary {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.System, sp(s.HighestOK, human), sp(s.Saturation, human))
		}
	}
	fmt.Fprintln(tw)
	if len(r.Summary) > 1 {
		a := r.Summary[0]
		for _, b := range r.Summary[1:] {
			for _, l := range ratios(a, b, r.Scenario, spreadOf(r.DialPerS).Median) {
				fmt.Fprintf(tw, "%s / %s\t%s\n", a.System, b.System, l)
			}
		}
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(tw, "error\t%s, repeat %d, %s: %s\n", run.System, run.Repeat, stepName(r.Scenario, run.Rate), run.Error)
		} else if run.Result != nil {
			for _, n := range run.Result.Notes {
				fmt.Fprintf(tw, "note\t%s, repeat %d, %s: %s\n", run.System, run.Repeat, stepName(r.Scenario, run.Rate), n)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, %s, load %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.LoadAvg)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ratios compares system a to b: CPU per delivery at each step both ran
// (medians), highest rate kept up with and saturation; for connect,
// connects/s and CPU per connection, and a's connects/s to the bare dials.
func ratios(a, b SystemStat, scenario string, dial float64) []string {
	div := func(x, y float64) string {
		if y == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", x/y)
	}
	if scenario == ScenarioConnect {
		out := []string{"connects/s " + div(a.ConnectPerS.Median, b.ConnectPerS.Median) + ", CPU per connection " + div(a.CPUPerConnUS.Median, b.CPUPerConnUS.Median)}
		if dial > 0 {
			out = append(out, fmt.Sprintf("(%s connects/s = %s of the bare TCP dials/s)", a.System, div(a.ConnectPerS.Median, dial)))
		}
		return out
	}
	var out []string
	for _, sa := range a.Steps {
		for _, sb := range b.Steps {
			if sa.Rate == sb.Rate {
				out = append(out, fmt.Sprintf("at %.0f ticks/s: CPU per delivery %s (user %s, system %s)", sa.Rate,
					div(sa.CPUPerDeliveryUS.Median, sb.CPUPerDeliveryUS.Median),
					div(sa.UserPerDeliveryUS.Median, sb.UserPerDeliveryUS.Median), div(sa.SysPerDeliveryUS.Median, sb.SysPerDeliveryUS.Median)))
			}
		}
	}
	return append(out, "highest rate with p99 < 100 ms "+div(a.HighestOK.Median, b.HighestOK.Median)+", saturation "+div(a.Saturation.Median, b.Saturation.Median))
}
