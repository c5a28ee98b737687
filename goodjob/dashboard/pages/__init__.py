"""The dashboard's pages, one module per thing they show; ``dashboard/routes.py`` lists them."""
