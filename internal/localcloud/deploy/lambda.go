package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func deployFunction(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	l := d.Clients.Lambda
	code, _ := p["Code"].(map[string]any)
	if _, local := code["CodeUri"]; !local {
		return errors.New("property Code: only a SAM CodeUri (built locally) is supported")
	}
	var archs []ltypes.Architecture
	if err := convert(p["Architectures"], &archs); err != nil {
		return fmt.Errorf("property Architectures: %w", err)
	}
	arch := "x86_64"
	if len(archs) > 0 {
		arch = string(archs[0])
	}
	zip, err := d.Code(ctx, arch)
	if err != nil {
		return fmt.Errorf("build code: %w", err)
	}
	var env *ltypes.Environment
	if err := convert(p["Environment"], &env); err != nil {
		return fmt.Errorf("property Environment: %w", err)
	}
	var logging *ltypes.LoggingConfig
	if err := convert(p["LoggingConfig"], &logging); err != nil {
		return fmt.Errorf("property LoggingConfig: %w", err)
	}
	memory, err := int32Of(p["MemorySize"])
	if err != nil {
		return fmt.Errorf("property MemorySize: %w", err)
	}
	timeout, err := int32Of(p["Timeout"])
	if err != nil {
		return fmt.Errorf("property Timeout: %w", err)
	}
	var out *ltypes.FunctionConfiguration
	if _, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &r.Name}); err == nil {
		r.Updated = true
		if _, err := l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: &r.Name, Handler: optString(p["Handler"]), Runtime: ltypes.Runtime(str(p, "Runtime")),
			Role: optString(p["Role"]), Environment: env, LoggingConfig: logging, Description: optString(p["Description"]),
			MemorySize: memory, Timeout: timeout,
		}); err != nil {
			return fmt.Errorf("update function configuration: %w", err)
		}
		// Lambda refuses a second update while the first is in progress.
		if err := waitForFunction(ctx, l, r.Name); err != nil {
			return err
		}
		code, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: &r.Name, ZipFile: zip, Architectures: archs,
		})
		if err != nil {
			return fmt.Errorf("update function code: %w", err)
		}
		out = &ltypes.FunctionConfiguration{FunctionArn: code.FunctionArn}
	} else if isNotFound(err) {
		created, err := l.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: &r.Name, Code: &ltypes.FunctionCode{ZipFile: zip}, Role: optString(p["Role"]),
			Handler: optString(p["Handler"]), Runtime: ltypes.Runtime(str(p, "Runtime")), Architectures: archs,
			Environment: env, LoggingConfig: logging, Description: optString(p["Description"]),
			MemorySize: memory, Timeout: timeout, Tags: tagMap(p["Tags"]),
		})
		if err != nil {
			return fmt.Errorf("create function: %w", err)
		}
		out = &ltypes.FunctionConfiguration{FunctionArn: created.FunctionArn}
	} else {
		return fmt.Errorf("get function: %w", err)
	}
	// An invoke right after the deploy must find the function ready.
	if err := waitForFunction(ctx, l, r.Name); err != nil {
		return err
	}
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(out.FunctionArn)}
	return nil
}

// waitForFunction waits until a function is neither Pending nor being
// updated. It is not the SDK's FunctionActiveV2/FunctionUpdatedV2 waiter:
// those wait for "Active" and "Successful", which some emulators never
// report, so here a missing state counts as ready.
func waitForFunction(ctx context.Context, l *lambda.Client, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		out, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &name})
		if err != nil {
			return fmt.Errorf("wait for function %s: %w", name, err)
		}
		c := out.Configuration
		switch {
		case c.State == ltypes.StateFailed:
			return fmt.Errorf("function %s failed: %s", name, aws.ToString(c.StateReason))
		case c.LastUpdateStatus == ltypes.LastUpdateStatusFailed:
			return fmt.Errorf("function %s update failed: %s", name, aws.ToString(c.LastUpdateStatusReason))
		case c.State != ltypes.StatePending && c.LastUpdateStatus != ltypes.LastUpdateStatusInProgress:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for function %s: %w", name, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func removeFunction(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: &r.Name})
	return gone(err)
}

func functionExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &r.Name})
	return found(err)
}

func deployInvokeConfig(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	in := &lambda.PutFunctionEventInvokeConfigInput{FunctionName: &r.Name, Qualifier: optString(p["Qualifier"])}
	if err := convert(p["DestinationConfig"], &in.DestinationConfig); err != nil {
		return fmt.Errorf("property DestinationConfig: %w", err)
	}
	var err error
	if in.MaximumRetryAttempts, err = int32Of(p["MaximumRetryAttempts"]); err != nil {
		return fmt.Errorf("property MaximumRetryAttempts: %w", err)
	}
	if in.MaximumEventAgeInSeconds, err = int32Of(p["MaximumEventAgeInSeconds"]); err != nil {
		return fmt.Errorf("property MaximumEventAgeInSeconds: %w", err)
	}
	if r.Updated, err = invokeConfigExists(ctx, d.Clients, *r); err != nil {
		return err
	}
	if _, err := d.Clients.Lambda.PutFunctionEventInvokeConfig(ctx, in); err != nil {
		return fmt.Errorf("put event invoke config: %w", err)
	}
	r.ref = r.Name
	r.attrs = map[string]string{}
	return nil
}

func removeInvokeConfig(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: &r.Name})
	return gone(err)
}

func invokeConfigExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: &r.Name})
	return found(err)
}

// deployEventSourceMapping creates the mapping of a function and a source,
// or updates the one that exists (Lambda allows one per pair).
func deployEventSourceMapping(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	l := d.Clients.Lambda
	source := str(p, "EventSourceArn")
	if source == "" {
		return errors.New("property EventSourceArn is required")
	}
	var err error
	var batch, window *int32
	if batch, err = int32Of(p["BatchSize"]); err != nil {
		return fmt.Errorf("property BatchSize: %w", err)
	}
	if window, err = int32Of(p["MaximumBatchingWindowInSeconds"]); err != nil {
		return fmt.Errorf("property MaximumBatchingWindowInSeconds: %w", err)
	}
	var types []ltypes.FunctionResponseType
	if err := convert(p["FunctionResponseTypes"], &types); err != nil {
		return fmt.Errorf("property FunctionResponseTypes: %w", err)
	}
	var scaling *ltypes.ScalingConfig
	if sc, ok := p["ScalingConfig"].(map[string]any); ok {
		// A Number parameter resolves to text: read it as a number.
		n, err := int32Of(sc["MaximumConcurrency"])
		if err != nil {
			return fmt.Errorf("property ScalingConfig.MaximumConcurrency: %w", err)
		}
		scaling = &ltypes.ScalingConfig{MaximumConcurrency: n}
	}
	existing, err := l.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: &r.Name, EventSourceArn: &source})
	if err != nil {
		return fmt.Errorf("list event source mappings: %w", err)
	}
	var out struct{ UUID, EventSourceMappingArn *string }
	if len(existing.EventSourceMappings) > 0 {
		r.Updated = true
		if types == nil {
			types = []ltypes.FunctionResponseType{} // a property removed from the template is cleared
		}
		if scaling == nil {
			scaling = &ltypes.ScalingConfig{}
		}
		got, err := l.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{
			UUID: existing.EventSourceMappings[0].UUID, FunctionName: &r.Name, BatchSize: batch,
			MaximumBatchingWindowInSeconds: window, Enabled: enabledOf(p["Enabled"]), FunctionResponseTypes: types, ScalingConfig: scaling,
		})
		if err != nil {
			return fmt.Errorf("update event source mapping: %w", err)
		}
		out.UUID, out.EventSourceMappingArn = got.UUID, got.EventSourceMappingArn
	} else {
		got, err := l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
			FunctionName: &r.Name, EventSourceArn: &source, BatchSize: batch, MaximumBatchingWindowInSeconds: window,
			Enabled: boolOf(p["Enabled"]), FunctionResponseTypes: types, ScalingConfig: scaling,
		})
		if err != nil {
			return fmt.Errorf("create event source mapping: %w", err)
		}
		out.UUID, out.EventSourceMappingArn = got.UUID, got.EventSourceMappingArn
	}
	r.ref = aws.ToString(out.UUID)
	r.attrs = map[string]string{"Id": r.ref, "EventSourceMappingArn": aws.ToString(out.EventSourceMappingArn)}
	return nil
}

// enabledOf is the Enabled of an update: true when the template leaves it
// out, as CloudFormation's default is.
func enabledOf(v any) *bool {
	if v == nil {
		return aws.Bool(true)
	}
	return boolOf(v)
}

// removeEventSourceMappings deletes every mapping of the function: the
// teardown knows the function, not the sources.
func removeEventSourceMappings(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	removed := false
	p := lambda.NewListEventSourceMappingsPaginator(c.Lambda, &lambda.ListEventSourceMappingsInput{FunctionName: &r.Name})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return gone(err)
		}
		for _, m := range page.EventSourceMappings {
			if _, err := c.Lambda.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil && !isNotFound(err) {
				return removed, fmt.Errorf("delete event source mapping %s: %w", aws.ToString(m.UUID), err)
			}
			removed = true
		}
	}
	return removed, nil
}

func eventSourceMappingExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	out, err := c.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: &r.Name})
	if err != nil {
		return found(err)
	}
	return len(out.EventSourceMappings) > 0, nil
}
