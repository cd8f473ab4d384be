from django.urls import path

from cases.views import (
    dashboard,
    filings,
    inbox,
    letters,
    patients,
    qualifications,
    selections,
    tools,
)

urlpatterns = [
    path("", dashboard.dashboard, name="home"),
    path("patients/", patients.patient_search, name="patient_search"),
    path("patients/new/", patients.patient_register_view, name="patient_register"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/qualifications/new/", qualifications.apply, name="qualification_apply"),
    path("patients/<int:pk>/selections/new/", selections.add, name="selection_add"),
    path("patients/<int:pk>/filings/new/", filings.create, name="filing_create"),
    path("patients/<int:pk>/letters/new/", letters.issue, name="letter_issue"),
    path("qualifications/<int:pk>/review/", qualifications.review, name="qualification_review"),
    path("qualifications/<int:pk>/cancel/", qualifications.cancel, name="qualification_cancel"),
    path("reviews/", qualifications.review_queue, name="review_queue"),
    path("expiring/", dashboard.expiring, name="expiring"),
    path("selections/<int:pk>/end/", selections.end, name="selection_end"),
    path("filings/<int:pk>/cancel/", filings.cancel, name="filing_cancel"),
    path("filings/<int:pk>/change/", filings.change, name="filing_change"),
    path("filings/<int:pk>/receipt/", filings.receipt, name="filing_receipt"),
    path("letters/<int:pk>/print/", letters.letter_print, name="letter_print"),
    path("settlement/", tools.settlement, name="settlement"),
    path("institutions/finder/", tools.institution_finder, name="institution_finder"),
    path(
        "institutions/autocomplete/",
        tools.institution_autocomplete,
        name="institution_autocomplete",
    ),
    path("policy/", tools.policy, name="policy"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", inbox.inbox_read, name="inbox_read"),
    path("inbox/read-all/", inbox.inbox_read_all, name="inbox_read_all"),
]
