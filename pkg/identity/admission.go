package identity

import (
	"context"
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PolicyName names the ValidatingAdmissionPolicy (and its binding) that
// lets only those who may impersonate a ServiceAccount name it in an RGD.
// Without it, anyone who may write an RGD could borrow any ServiceAccount,
// including the controllers' in kube-system.
const PolicyName = "trellis.dev-rgd-service-account"

// policyExpression allows an RGD write when it names no fixed
// ServiceAccount, or when the writer may impersonate the one it names.
// Malformed values pass: the controller rejects them with a condition.
// {instance-namespace} identities are chosen by each namespace's admins
// (who create that ServiceAccount and its role), so they pass too.
const policyExpression = `variables.sa == '' || variables.parts.size() != 2 || variables.parts[0] == '` + InstanceNamespace + `' ||
authorizer.group('').resource('serviceaccounts').namespace(variables.parts[0]).name(variables.parts[1]).check('impersonate').allowed()`

const policyMessage = `'annotation ` + Annotation + `: ' + request.userInfo.username + ' may not impersonate ServiceAccount ' + variables.sa + ', so may not name it as the identity of a ResourceGraphDefinition'`

// EnsurePolicy installs or updates the admission policy and its binding.
// What fieldManager owns of the live objects is compared first, so a start
// against an unchanged policy reads and writes nothing.
func EnsurePolicy(ctx context.Context, kube kubernetes.Interface, fieldManager string) error {
	api := kube.AdmissionregistrationV1()
	policy := admac.ValidatingAdmissionPolicy(PolicyName).
		WithSpec(admac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admv1.Fail).
			// matchConstraints is atomic: the server's defaults are spelled
			// out so what we own compares equal to what we apply.
			WithMatchConstraints(admac.MatchResources().
				WithNamespaceSelector(metaac.LabelSelector()).
				WithObjectSelector(metaac.LabelSelector()).
				WithMatchPolicy(admv1.Equivalent).
				WithResourceRules(admac.NamedRuleWithOperations().
					WithOperations(admv1.Create, admv1.Update).
					WithAPIGroups("kro.run").WithAPIVersions("*").
					WithResources("resourcegraphdefinitions").
					WithScope(admv1.AllScopes))).
			WithVariables(
				admac.Variable().WithName("sa").WithExpression(
					`has(object.metadata.annotations) && '`+Annotation+`' in object.metadata.annotations ? object.metadata.annotations['`+Annotation+`'].trim() : ''`),
				admac.Variable().WithName("parts").WithExpression(`variables.sa.split('/')`)).
			WithValidations(admac.Validation().
				WithExpression(policyExpression).
				WithMessageExpression(policyMessage).
				WithReason(metav1.StatusReasonForbidden)))
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	live, err := api.ValidatingAdmissionPolicies().Get(ctx, PolicyName, metav1.GetOptions{})
	if same, err := owns(live, err, fieldManager, admac.ExtractValidatingAdmissionPolicy, policy); err != nil {
		return fmt.Errorf("reading ValidatingAdmissionPolicy %s: %w", PolicyName, err)
	} else if !same {
		if _, err := api.ValidatingAdmissionPolicies().Apply(ctx, policy, opts); err != nil {
			return fmt.Errorf("installing ValidatingAdmissionPolicy %s: %w", PolicyName, err)
		}
	}
	binding := admac.ValidatingAdmissionPolicyBinding(PolicyName).
		WithSpec(admac.ValidatingAdmissionPolicyBindingSpec().
			WithPolicyName(PolicyName).
			WithValidationActions(admv1.Deny))
	liveBinding, err := api.ValidatingAdmissionPolicyBindings().Get(ctx, PolicyName, metav1.GetOptions{})
	if same, err := owns(liveBinding, err, fieldManager, admac.ExtractValidatingAdmissionPolicyBinding, binding); err != nil {
		return fmt.Errorf("reading ValidatingAdmissionPolicyBinding %s: %w", PolicyName, err)
	} else if !same {
		if _, err := api.ValidatingAdmissionPolicyBindings().Apply(ctx, binding, opts); err != nil {
			return fmt.Errorf("installing ValidatingAdmissionPolicyBinding %s: %w", PolicyName, err)
		}
	}
	return nil
}

// owns reports whether the fields fieldManager owns in live (as Get
// returned it with getErr) are exactly want; a missing object is not.
func owns[L, A any](live L, getErr error, fieldManager string, extract func(L, string) (A, error), want A) (bool, error) {
	if apierrors.IsNotFound(getErr) {
		return false, nil
	}
	if getErr != nil {
		return false, getErr
	}
	have, err := extract(live, fieldManager)
	if err != nil {
		return false, nil // not extractable: apply, which is always right
	}
	return equality.Semantic.DeepEqual(have, want), nil
}
