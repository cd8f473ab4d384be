"""``{{ form.field|field }}``: a Bootstrap 5 form field (label, widget, errors, help) in
Python, for the pages clerks open all day. crispy-forms renders the same markup through
several templates per field, which on a search page cost more than the search itself.
"""

from __future__ import annotations

from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

SELECTS = (forms.Select, forms.SelectMultiple)


@register.filter
def field(bound: BoundField) -> SafeString:
    widget = bound.field.widget
    if isinstance(widget, forms.HiddenInput):
        return SafeString(str(bound))
    css = "form-select" if isinstance(widget, SELECTS) else "form-control"
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    if bound.errors:
        css += " is-invalid"
    attrs: dict[str, str | bool] = {"class": f"{widget.attrs.get('class', '')} {css}".strip()}
    if bound.errors:
        attrs["aria-invalid"] = "true"
    control = bound.as_widget(attrs=attrs)
    label = ""
    if bound.label:
        required = mark_safe('<span class="asteriskField">*</span>') if bound.field.required else ""
        label = format_html(
            '<label for="{}" class="form-label">{}{}</label>',
            bound.id_for_label,
            bound.label,
            required,
        )
    errors = format_html_join(
        "",
        '<div class="invalid-feedback d-block"><strong>{}</strong></div>',
        ((e,) for e in bound.errors),
    )
    # Django points the control's aria-describedby at "<id>_helptext".
    help_text = (
        format_html(
            '<div class="form-text" id="{}_helptext">{}</div>', bound.auto_id, bound.help_text
        )
        if bound.help_text
        else ""
    )
    return format_html(
        '<div id="div_{}" class="mb-3">{}{}{}{}</div>',
        bound.auto_id,
        label,
        control,
        errors,
        help_text,
    )
