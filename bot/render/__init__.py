"""What customers and staff read: the catalogs, the export and the charts."""
