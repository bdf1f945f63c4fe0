"""chainrule.data"""
