# Day-month-year and a 24-hour clock, as our (European) finders and teams read dates;
# Django's "en" defaults are American.
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
