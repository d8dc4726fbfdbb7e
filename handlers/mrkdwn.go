package handlers

import (
	"reflect"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// ReportMrkdwn words a report for Slack: the data is escaped (a pod name or an error
// cannot start an entity such as <!channel>), the template's own markup (a channel
// link <#C…>, code) is kept. ReportText escaped whole would show a link as &lt;#C…&gt;.
func ReportMrkdwn(r *engine.Report) string {
	if r == nil {
		return ""
	}
	facts, err := report.Decode(r.Kind, r.Facts)
	if err != nil {
		return message.Escape(ReportText(r))
	}
	escaped := escapedCopy(reflect.ValueOf(facts)).Interface().(report.Facts)
	text := say("report/"+r.Kind, escaped)
	if len(r.Left) > 0 || len(r.Stopped) > 0 {
		stopped := escapedCopy(reflect.ValueOf(stoppedData{r.Left, r.Stopped})).Interface()
		text = say("stopped", stopped) + "; " + text
	}
	return text
}

// OutputMrkdwn is OutputText for Slack: a report through ReportMrkdwn, a stored
// sentence (runs of earlier versions) escaped whole, after what the executor stopped.
func OutputMrkdwn(o engine.Output) string {
	if o.Report != nil {
		return ReportMrkdwn(o.Report)
	}
	left, _ := escapedCopy(reflect.ValueOf(o.Left)).Interface().([]report.Stopped)
	return withStopped(left, message.Escape(o.Summary))
}

// escapedCopy returns a copy of v in which every string it holds (in exported fields,
// slices, arrays, maps and behind pointers) is escaped for mrkdwn. v itself is not
// changed; unexported fields are copied as they are.
func escapedCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(v.Type()).Elem()
		out.SetString(message.Escape(v.String()))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(escapedCopy(v.Elem()))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(escapedCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if f := out.Field(i); f.CanSet() {
				f.Set(escapedCopy(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(escapedCopy(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			out.Index(i).Set(escapedCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(escapedCopy(it.Key()), escapedCopy(it.Value()))
		}
		return out
	}
	return v
}
