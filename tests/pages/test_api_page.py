"""The API page (Swagger UI, from the local copy) is a page like the others: axe-clean and all from 127.0.0.1."""


def test_the_api_page_renders_every_operation_from_local_files_without_serious_accessibility_faults(visit):
    visitor = visit("api")
    visitor.open("/docs", check=False)
    assert visitor.text(".opblock-summary-method") in ("GET", "POST", "PUT", "PATCH", "DELETE")  # Swagger UI drew them
    visitor.check("/docs")
