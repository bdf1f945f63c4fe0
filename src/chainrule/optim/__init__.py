"""chainrule.optim"""
