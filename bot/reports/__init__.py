"""Reports at a glance: figures computed in SQL, a phone-sized chart, the workbook of ledgers."""
