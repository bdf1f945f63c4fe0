"""chainrule.cli"""
