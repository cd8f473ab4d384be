"""The clerk's pages, by area. Views are thin: access, form, service, message, redirect."""
